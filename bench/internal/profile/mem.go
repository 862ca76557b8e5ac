package profile

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Mem is a process's resident memory.
type Mem struct {
	RSS uint64 // VmRSS
	HWM uint64 // VmHWM, the peak RSS
}

// ReadMem reads VmRSS and VmHWM from /proc/self/status; zeros where there is none.
func ReadMem() Mem {
	var p Mem
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return p
	}
	for line := range bytes.Lines(b) {
		name, value, ok := strings.Cut(string(line), ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			p.RSS = kb << 10
		case "VmHWM":
			p.HWM = kb << 10
		}
	}
	return p
}

// CPUTime is the CPU time this process has used, user and system.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
