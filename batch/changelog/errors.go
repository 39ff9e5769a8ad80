package changelog

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"syscall"
)

// LakeErrorKind classifies an error of a lake operation for metrics and
// logs: "throttled" (S3 503 SlowDown and other throttling replies),
// "unavailable" (the store cannot be reached, or answers 5xx), "timeout",
// "denied" (credentials or permissions), "other"; "" for nil, a missing
// object (fs.ErrNotExist, an ordinary answer) and a cancelled context (a
// shutdown). It decides by the error's types and the service's error codes
// and status, never by message text.
func LakeErrorKind(err error) string {
	switch {
	case err == nil, errors.Is(err, fs.ErrNotExist), errors.Is(err, context.Canceled), errors.Is(err, errDiscarded):
		return ""
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	var api interface{ ErrorCode() string } // smithy.APIError: the service's error code
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests", "TooManyRequestsException", "RequestThrottled":
			return "throttled"
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "AllAccessDisabled":
			return "denied"
		case "ServiceUnavailable", "InternalError", "XMinioServerNotInitialized":
			return "unavailable"
		}
	}
	var status interface{ HTTPStatusCode() int } // smithy-go's HTTP response error
	if errors.As(err, &status) {
		switch c := status.HTTPStatusCode(); {
		case c == 429:
			return "throttled"
		case c == 401 || c == 403:
			return "denied"
		case c >= 500:
			return "unavailable"
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	if errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "unavailable"
	}
	return "other"
}
