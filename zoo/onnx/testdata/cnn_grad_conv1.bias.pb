B
conv1.biasJ ¨¢<<F½Ã?<¸ü	½ùo½ôÒ»C´½*z<