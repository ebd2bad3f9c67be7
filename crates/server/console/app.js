// Placeholder: the console script is written by the UI helper.
