package changelog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"syscall"
	"testing"

	"github.com/aws/smithy-go"
)

func TestLakeErrorKind(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("reading manifest: %w", fs.ErrNotExist), ""},
		{context.Canceled, ""},
		{fmt.Errorf("putting object: %w", &smithy.GenericAPIError{Code: "SlowDown", Message: "Please reduce your request rate."}), "throttled"},
		{fmt.Errorf("putting object: %w", &smithy.GenericAPIError{Code: "AccessDenied"}), "denied"},
		{fmt.Errorf("putting object: %w", &smithy.GenericAPIError{Code: "ServiceUnavailable"}), "unavailable"},
		{fmt.Errorf("dial: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), "unavailable"},
		{fmt.Errorf("sealing: %w", context.DeadlineExceeded), "timeout"},
		{errors.New("lake is unavailable, slowdown, throttled"), "other"}, // text is never read
	} {
		if got := LakeErrorKind(c.err); got != c.want {
			t.Errorf("LakeErrorKind(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
