"""Recording profiles: the I/O side (seccomp user notification, processes). The pure part, turning recorded
(architecture, syscall number) pairs into a profile, is `seccomp_operator.profile.recording`. See README.md."""
