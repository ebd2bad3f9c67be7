// Placeholder: the login script is written by the UI helper.
