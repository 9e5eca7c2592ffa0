"""seccomp-operator: validated seccomp profiles, installed atomically on every node."""
