package formats

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

var dateTimeLayouts = [7]string{
	"2006-01-02 15:04:05",
	"2006-01-02 15:04:05.0",
	"2006-01-02 15:04:05.00",
	"2006-01-02 15:04:05.000",
	"2006-01-02 15:04:05.0000",
	"2006-01-02 15:04:05.00000",
	"2006-01-02 15:04:05.000000",
}

func clampFSP(fsp int) int { return min(max(fsp, 0), 6) }

func appendDateValue(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, "0000-00-00"...)
	}
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.AppendFormat(dst, "2006-01-02")
	}
	// By hand: this runs for every temporal value of every mirrored row,
	// and AppendFormat interprets its layout each time.
	return append(dst, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10),
		'-', byte('0'+mo/10), byte('0'+mo%10), '-', byte('0'+d/10), byte('0'+d%10))
}

func appendDateTimeValue(dst []byte, t time.Time, fsp int) []byte {
	fsp = clampFSP(fsp)
	if t.IsZero() {
		dst = append(dst, "0000-00-00 00:00:00"...)
		if fsp > 0 {
			dst = append(dst, ".000000"[:fsp+1]...)
		}
		return dst
	}
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return t.AppendFormat(dst, dateTimeLayouts[fsp])
	}
	dst = appendDateValue(dst, t)
	h, mi, sec := t.Clock()
	dst = append(dst, ' ', byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10),
		':', byte('0'+sec/10), byte('0'+sec%10))
	if fsp > 0 {
		// The first fsp digits of the nanoseconds: truncated, as
		// AppendFormat's ".000000" does.
		var frac [9]byte
		ns := t.Nanosecond()
		for i := 8; i >= 0; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		dst = append(dst, '.')
		dst = append(dst, frac[:fsp]...)
	}
	return dst
}

func appendTimeValue(dst []byte, d time.Duration, fsp int) []byte {
	fsp = clampFSP(fsp)
	if d < 0 {
		dst = append(dst, '-')
		d = -d
	}
	us := int64(d / time.Microsecond)
	h := us / 3_600_000_000
	us -= h * 3_600_000_000
	m := us / 60_000_000
	us -= m * 60_000_000
	s := us / 1_000_000
	us -= s * 1_000_000
	if h < 10 {
		dst = append(dst, '0')
	}
	dst = strconv.AppendInt(dst, h, 10)
	dst = append(dst, ':', byte('0'+m/10), byte('0'+m%10), ':', byte('0'+s/10), byte('0'+s%10))
	if fsp > 0 {
		frac := strconv.AppendInt(nil, us+1_000_000, 10) // "1ffffff"
		dst = append(dst, '.')
		dst = append(dst, frac[1:1+fsp]...)
	}
	return dst
}

func isDecimalDigit(c byte) bool { return '0' <= c && c <= '9' }

// digits parses s, all ASCII digits, as a non-negative int.
func parseDigits(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDecimalDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// parseDate parses "YYYY-MM-DD".
func parseDateValue(s string) (time.Time, error) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return time.Time{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	y, ok1 := parseDigits(s[0:4])
	m, ok2 := parseDigits(s[5:7])
	d, ok3 := parseDigits(s[8:10])
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	return makeDateValue(s, y, m, d, 0, 0, 0, 0)
}

// parseDateTime parses "YYYY-MM-DD HH:MM:SS[.f]" (or with "T"), with at
// most t.FSP nonzero fraction digits.
func parseDateTimeValue(s string, t Type) (time.Time, error) {
	const base = len("2006-01-02 15:04:05")
	// The error is built only on failure: this runs once per DATETIME
	// value of every binlog row.
	bad := func() error { return fmt.Errorf("datetime %q: want YYYY-MM-DD HH:MM:SS[.ffffff]", s) }
	if len(s) < base || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, bad()
	}
	y, ok1 := parseDigits(s[0:4])
	mo, ok2 := parseDigits(s[5:7])
	d, ok3 := parseDigits(s[8:10])
	h, ok4 := parseDigits(s[11:13])
	mi, ok5 := parseDigits(s[14:16])
	sec, ok6 := parseDigits(s[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return time.Time{}, bad()
	}
	us, err := parseFraction(s[base:], t.FSP)
	if err != nil {
		return time.Time{}, fmt.Errorf("datetime %q: %w", s, err)
	}
	return makeDateValue(s, y, mo, d, h, mi, sec, us)
}

// parseFraction parses "" or ".f{1,6}" into microseconds, refusing nonzero
// digits beyond fsp.
func parseFraction(s string, fsp int) (int, error) {
	if s == "" {
		return 0, nil
	}
	if s[0] != '.' || len(s) < 2 || len(s) > 7 {
		return 0, fmt.Errorf("fraction %q: want . and 1 to 6 digits", s)
	}
	f, ok := parseDigits(s[1:])
	if !ok {
		return 0, fmt.Errorf("fraction %q: want digits", s)
	}
	for i := len(s) - 1; i < 6; i++ {
		f *= 10
	}
	if f%fracPow10[6-clampFSP(fsp)] != 0 {
		return 0, fmt.Errorf("fraction %q has more than %d digits", s, fsp)
	}
	return f, nil
}

var fracPow10 = [7]int{1, 10, 100, 1000, 10000, 100000, 1000000}

func makeDateValue(s string, y, mo, d, h, mi, sec, us int) (time.Time, error) {
	if y == 0 && mo == 0 && d == 0 {
		if h == 0 && mi == 0 && sec == 0 && us == 0 {
			return time.Time{}, nil
		}
		return time.Time{}, fmt.Errorf("%q: a zero date with a nonzero time has no Go value", s)
	}
	if mo == 0 || d == 0 {
		return time.Time{}, fmt.Errorf("%q: a date with a zero month or day has no Go value (sql_mode without NO_ZERO_IN_DATE)", s)
	}
	if mo > 12 || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, fmt.Errorf("%q: out of range", s)
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, us*1000, time.UTC)
	if t.Day() != d {
		return time.Time{}, fmt.Errorf("%q: no such day (sql_mode ALLOW_INVALID_DATES?)", s)
	}
	return t, nil
}

// parseDuration parses a TIME: "[-]H...:MM:SS[.f]".
func parseTimeValue(s string, t Type) (time.Duration, error) {
	body := s
	neg := strings.HasPrefix(body, "-")
	if neg {
		body = body[1:]
	}
	c1 := strings.IndexByte(body, ':')
	if c1 < 1 || len(body) < c1+6 || body[c1+3] != ':' {
		return 0, fmt.Errorf("time %q: want [-]HH:MM:SS[.ffffff]", s)
	}
	h, ok1 := parseDigits(body[:c1])
	m, ok2 := parseDigits(body[c1+1 : c1+3])
	sec, ok3 := parseDigits(body[c1+4 : c1+6])
	if !ok1 || !ok2 || !ok3 || m > 59 || sec > 59 {
		return 0, fmt.Errorf("time %q: want [-]HH:MM:SS[.ffffff]", s)
	}
	if h > 838 {
		return 0, fmt.Errorf("time %q: outside TIME's range of ±838:59:59.999999", s)
	}
	us, err := parseFraction(body[c1+6:], t.FSP)
	if err != nil {
		return 0, fmt.Errorf("time %q: %w", s, err)
	}
	d := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute +
		time.Duration(sec)*time.Second + time.Duration(us)*time.Microsecond
	if neg {
		d = -d
	}
	return d, nil
}

// parseUnixValue parses UNIX_TIMESTAMP's "seconds[.f]"; 0 is the zero
// TIMESTAMP, as 1970-01-01 00:00:00 UTC is outside TIMESTAMP's range.
// maxUnixSeconds is 9999-12-31 23:59:59 UTC.
const maxUnixSeconds = 253402300799

func parseUnixValue(s string, t Type) (time.Time, error) {
	secPart, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(secPart, 10, 64)
	if err != nil || sec < 0 {
		return time.Time{}, fmt.Errorf("unix time %q: want seconds[.ffffff]", s)
	}
	if sec > maxUnixSeconds {
		return time.Time{}, fmt.Errorf("unix time %q: after 9999-12-31 23:59:59, the last time a datetime can hold", s)
	}
	us := 0
	if frac != "" {
		if us, err = parseFraction("."+frac, t.FSP); err != nil {
			return time.Time{}, fmt.Errorf("unix time %q: %w", s, err)
		}
	}
	if sec == 0 && us == 0 {
		return time.Time{}, nil
	}
	return time.Unix(sec, int64(us)*1000).UTC(), nil
}
