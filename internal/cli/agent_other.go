//go:build !linux

package cli

func dropExecutablePages() int { return 0 }
