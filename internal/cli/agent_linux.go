package cli

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// dropExecutablePages unmaps from this process the pages of its executable's read-only mappings (code
// and read-only data) that start-up touched; the ones the idle agent uses come back on their next use,
// from the page cache. Start-up runs the package initialisation of everything the binary links (the
// server's too), which leaves ~17 MiB of the executable resident in an agent that then needs little of
// it. Only unmodified read-only private mappings are dropped (a mapping with anonymous pages, e.g. one
// the dynamic linker relocated, is left alone), so their contents are exactly the file's. It returns
// the bytes of address space advised.
func dropExecutablePages() int {
	exe, err := os.Executable()
	if err != nil {
		return 0
	}
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0
	}
	type span struct{ start, end uintptr }
	var spans []span
	var cur *span
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(f[0], "-"); ok && len(f) >= 5 && !strings.HasSuffix(f[0], ":") {
			cur = nil
			if len(f) != 6 || f[5] != exe || (f[1] != "r-xp" && f[1] != "r--p") {
				continue
			}
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 != nil || err2 != nil {
				continue
			}
			spans = append(spans, span{uintptr(start), uintptr(end)})
			cur = &spans[len(spans)-1]
			continue
		}
		if cur != nil && f[0] == "Anonymous:" && f[1] != "0" {
			cur.start, cur.end = 0, 0 // modified pages: keep the mapping as it is
		}
	}
	n := 0
	for _, s := range spans {
		if s.end <= s.start {
			continue
		}
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, s.start, s.end-s.start, syscall.MADV_DONTNEED); e == 0 {
			n += int(s.end - s.start)
		}
	}
	return n
}
