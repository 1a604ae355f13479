"""The exit codes the README promises, for every subcommand (and nothing else here,
so the command line can use them before it imports anything heavy)."""

EXIT_OK = 0  # done
EXIT_FAILED = 1  # the run or the graph failed: an invalid graph, a fault while training
EXIT_BAD_INPUT = 2  # a bad file or flag: unreadable project, data, weights or settings; OSError
EXIT_INTERRUPTED = 130  # stopped with Ctrl-C (a checkpoint was written first)
