// Test helper for the browser scripts: named checks counted and printed, a watchdog that fails the
// run when it takes too long, and the summary line and exit status at the end.
export function checker(name, timeoutMs) {
  let passed = 0;
  let failed = 0;
  const watchdog = setTimeout(() => {
    console.error(`${name}: timed out after ${timeoutMs / 1000} s`);
    process.exit(1);
  }, timeoutMs);
  return {
    check(what, ok, detail = '') {
      if (ok) passed += 1;
      else failed += 1;
      console.log(`${ok ? 'PASS' : 'FAIL'}: ${what}${detail ? ` (${detail})` : ''}`);
    },
    // Prints "<name>: N passed, M failed" and exits 0 only when nothing failed.
    finish() {
      clearTimeout(watchdog);
      console.log(`${name}: ${passed} passed, ${failed} failed`);
      process.exit(failed === 0 ? 0 : 1);
    },
  };
}
