// `speakup serve`: the face server (HTTP, WebSocket signaling, WebRTC) until Ctrl-C or SIGTERM.
#include <iostream>

#include "speakup/server.h"
#include "subcommands.h"

namespace speakup::app {
namespace {

server::ServerOptions options = [] {
  server::ServerOptions o;
  o.web_root = SPEAKUP_WEB_ROOT;
  o.models_dir = SPEAKUP_MODELS_DIR;
  return o;
}();

}  // namespace

CLI::App* AddServeCommand(CLI::App& app) {
  CLI::App* serve = app.add_subcommand("serve", "Serve the browser client and the live face mesh over WebRTC");
  serve->add_option("--host", options.host, "Address to listen on (an IP address)")->capture_default_str();
  serve->add_option("--port", options.port, "Port (0: any free port)")->check(CLI::Range(0, 65535))->capture_default_str();
  serve->add_option("--tls-cert", options.tls_cert, "TLS certificate (PEM); with --tls-key, serves HTTPS/WSS");
  serve->add_option("--tls-key", options.tls_key, "TLS private key (PEM)");
  serve->add_flag("--insecure", options.insecure, "Allow plain HTTP on a non-loopback --host (prints a warning)");
  serve->add_option("--token", options.token, "Access token clients must give (page address ?token=...)");
  serve->add_option("--max-sessions", options.max_sessions, "Most concurrent clients (0: 4 per inference thread)")
      ->capture_default_str();
  serve->add_option("--threads", options.threads, "Inference threads (0: one per core)")->capture_default_str();
  serve->add_option("--web-root", options.web_root, "Folder of the browser client")->capture_default_str();
  serve->add_option("--models-dir", options.models_dir, "Folder with the model files")->capture_default_str();
  return serve;
}

int RunServe() {
  auto server = server::Server::Create(options);
  if (!server) {
    std::cerr << "speakup serve: " << server.error() << "\n";
    return 1;
  }
  std::cout << "speakup serve: listening on " << (*server)->url() << " (Ctrl-C to stop)" << std::endl;
  (*server)->Run();
  std::cout << "speakup serve: stopped" << std::endl;
  return 0;
}

}  // namespace speakup::app
