// KefuTestSupport: helpers shared by the test targets. A plain library that depends on no Kefu module, so
// every test target can use it without dragging the code under test along.
//
// - TemporaryDirectory: a scratch directory removed on deinit or remove().
// - findExecutable(named:), packageRoot: locate built products (kefud, kefuctl) for end-to-end tests.
// - NotifySocketListener: a fake systemd notify socket that catches READY=1 / STOPPING=1 datagrams.
// - JournaldHarness: start journald if needed (root only) and read entries back with journalctl.
// - NamespacedSystemd: boot a real systemd as PID 1 of a private namespace (root only) and drive it with systemctl.
// - MessageCatalog, runCommand: read a journal message catalog as systemd does; run journalctl and friends.
