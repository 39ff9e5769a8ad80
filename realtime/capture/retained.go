package capture

import (
	"context"
	"errors"

	"github.com/tidemark/tidemark/formats"
)

// CheckRetained reports whether the binlog still holds the file of pos, a
// checkpoint some consumer resumes after: nil when it does, an error
// matching ErrPurged when the file was purged (its message names the
// oldest file left and the fix), another error when the binlog list
// cannot be read or pos belongs to no binlog of the source.
func (c *Capture) CheckRetained(ctx context.Context, pos formats.Position) error {
	err := c.checkRetained(ctx, pos)
	var fe *fatalError
	if errors.As(err, &fe) {
		return fe.err
	}
	return err
}
