"""Transport-independent pieces shared by the sync and async SeekrFlow hooks."""
