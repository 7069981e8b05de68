"""git hooks: the scripts `mlvc install-hooks` writes (`scripts`), installing and removing them
(`install`), and what each hook does when git runs it (`run`)."""
