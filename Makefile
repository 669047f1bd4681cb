# SpeakUp: the two commands a person needs are `make run` and `make test`.
# Every build target first runs scripts/setup.sh (missing Debian packages, models), which is quick
# when all is present. The machine has 2 cores: builds and tests use JOBS=2.
#
#   make setup     install missing Debian packages and fetch the models
#   make models    fetch the models (FORCE=1: download again and replace them)
#   make build     release build in build/release
#   make run       build, then build/release/apps/speakup/speakup $(RUN_ARGS)
#   make test      build, then run every test with CTest
#   make asan      build in build/asan with AddressSanitizer + UBSan + LeakSanitizer and run the tests
#   make soak      the server fault tests at full size: 200 peers vanishing mid-stream (CI runs 40),
#                  on the release build and then under ASan + LeakSanitizer
#   make capacity  speakup bench capacity: how many 30 fps cameras this machine serves
#   make fuzz      build the libFuzzer targets in build/fuzz and fuzz the model loader for FUZZ_SECONDS s
#                  (make test also runs every target: the loader 60 s, signaling and results 20 s each)
#   make clean     remove build/

JOBS ?= 2
RUN_ARGS ?= serve
FUZZ_SECONDS ?= 60
FUZZ_ARGS ?=
FORCE ?=
# Where the models are: scripts/fetch_models.sh installs there and the build compiles it in.
SPEAKUP_MODELS_DIR ?= $(CURDIR)/models
export SPEAKUP_MODELS_DIR
MODELS_DEF := -DSPEAKUP_MODELS_DIR=$(SPEAKUP_MODELS_DIR)

BUILD_DIR ?= build/release
ASAN_DIR ?= build/asan
FUZZ_DIR ?= build/fuzz
FUZZ_TARGET := fuzz_tflite_loader
FUZZ_TARGETS := fuzz_tflite_loader fuzz_signaling fuzz_result_message fuzz_offer
FUZZ_BIN := $(FUZZ_DIR)/fuzz/$(FUZZ_TARGET)
FUZZ_CORPUS := $(FUZZ_DIR)/corpus
FUZZ_SEEDS := $(FUZZ_DIR)/seeds
FUZZ_ARTIFACTS := $(FUZZ_DIR)/artifacts

# Sanitizer reports should say where (the same environment as CMakePresets.json's asan test preset).
# (UBSan already stops at the first error: the build uses
# -fno-sanitize-recover=undefined.)
# GLib keeps one start-up allocation for the life of the process: tests/lsan.supp names it (LSan
# needs slow unwinding to see through GLib, which has no frame pointers).
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
  UBSAN_OPTIONS=print_stacktrace=1
# The fuzz build also has ASan+UBSan on all code, so the fuzzer finds memory errors in the engine.
FUZZ_SANITIZE ?= ON

.PHONY: all setup models build run test asan soak capacity fuzz fuzz-build clean

all: build

setup:
	sh scripts/setup.sh

models:
	sh scripts/fetch_models.sh $(if $(filter 1 yes true,$(FORCE)),--force)

build: setup
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=ON $(MODELS_DEF) \
	  -DSPEAKUP_FUZZ_DIR=$(if $(filter test,$(MAKECMDGOALS)),$(CURDIR)/$(FUZZ_DIR)/fuzz,) -DSPEAKUP_FUZZ_SECONDS=$(FUZZ_SECONDS)
	cmake --build $(BUILD_DIR) -j$(JOBS)

run: build
	$(BUILD_DIR)/apps/speakup/speakup $(RUN_ARGS)

# The tests include a bounded libFuzzer run of the model loader, built with clang first.
test: build fuzz-build
	ctest --test-dir $(BUILD_DIR) --output-on-failure --no-tests=error -j$(JOBS)

asan: setup
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPEAKUP_SANITIZE=ON -DBUILD_TESTING=ON \
	  $(MODELS_DEF)
	cmake --build $(ASAN_DIR) -j$(JOBS)
	$(ASAN_ENV) ctest --test-dir $(ASAN_DIR) --output-on-failure --no-tests=error -j$(JOBS)

# The long fault run: everything in tests/e2e/server_faults.mjs with 200 vanishing peers, first on
# the release build, then on the sanitizer build (leaks in the server are reported when it exits).
SOAK_PEERS ?= 200
soak: build
	SPEAKUP_VANISH_PEERS=$(SOAK_PEERS) SPEAKUP_BIN=$(BUILD_DIR)/apps/speakup/speakup node tests/e2e/server_faults.mjs
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPEAKUP_SANITIZE=ON -DBUILD_TESTING=ON $(MODELS_DEF)
	cmake --build $(ASAN_DIR) -j$(JOBS) --target speakup
	$(ASAN_ENV) SPEAKUP_VANISH_PEERS=$(SOAK_PEERS) SPEAKUP_BIN=$(ASAN_DIR)/apps/speakup/speakup \
	  SPEAKUP_LOADGEN_BIN=$(BUILD_DIR)/apps/speakup/speakup SPEAKUP_SANITIZED=1 node tests/e2e/server_faults.mjs

capacity: build
	$(BUILD_DIR)/apps/speakup/speakup bench capacity $(CAPACITY_ARGS)

# The compilers are given both ways: CC/CXX for a fresh tree, -DCMAKE_*_COMPILER so an existing
# tree configured with gcc is not silently reused. The seeds (the real models) are copied afresh each
# time; libFuzzer adds what it finds to the corpus folder, the first one it is given.
fuzz-build: setup
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DBUILD_TESTING=OFF \
	  -DSPEAKUP_FUZZ=ON -DSPEAKUP_SANITIZE=$(FUZZ_SANITIZE) $(MODELS_DEF)
	cmake --build $(FUZZ_DIR) -j$(JOBS) --target $(FUZZ_TARGETS)

fuzz: fuzz-build
	rm -rf $(FUZZ_SEEDS)
	mkdir -p $(FUZZ_CORPUS) $(FUZZ_SEEDS) $(FUZZ_ARTIFACTS)
	cp $(SPEAKUP_MODELS_DIR)/*.tflite $(FUZZ_SEEDS)/
	$(ASAN_ENV) $(FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(FUZZ_ARTIFACTS)/ \
	  $(FUZZ_ARGS) $(FUZZ_CORPUS) $(FUZZ_SEEDS)

clean:
	rm -rf build
