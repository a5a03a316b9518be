"""Example msgworker handlers; each is also wired in template.yaml and shown by `make demo`."""
