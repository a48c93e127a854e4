"""Code the tests share that is not a fixture: subprocess runners and small probe callbacks."""
