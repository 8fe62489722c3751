# The two commands of the README, and their parts.
.PHONY: demo setup test

demo: setup
	scripts/demo

setup:
	scripts/setup

test:
	scripts/test
