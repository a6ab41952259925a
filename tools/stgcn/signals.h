// SIGINT / SIGTERM for long-running commands (stgcn run): the first signal asks the command
// to stop reading, finish what is in flight and write what it produced; the second aborts at
// once (the default action of that signal). docs/safety.md.
#pragma once

namespace stgcn::cli {

void install_stop_handlers();
// True once a stop signal arrived.
bool stop_requested();
// The signal that asked to stop (0: none); the command exits with 128 + it.
int stop_signal();

}  // namespace stgcn::cli
