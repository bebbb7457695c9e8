package audio

import "syscall"

func syscallGetpgid(pid int) (int, error) { return syscall.Getpgid(pid) }
