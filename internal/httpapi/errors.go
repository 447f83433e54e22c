package httpapi

import (
	"errors"
	"net/http"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/requestid"
)

// statusOf is the one table from canonical codes to HTTP statuses.
var statusOf = map[keyplane.Code]int{
	keyplane.InvalidArgument:    http.StatusBadRequest,
	keyplane.FailedPrecondition: http.StatusBadRequest,
	keyplane.Unauthenticated:    http.StatusUnauthorized,
	keyplane.PermissionDenied:   http.StatusForbidden,
	keyplane.NotFound:           http.StatusNotFound,
	keyplane.AlreadyExists:      http.StatusConflict,
	keyplane.ResourceExhausted:  http.StatusTooManyRequests,
	keyplane.RequestTooLarge:    http.StatusRequestEntityTooLarge,
	keyplane.Internal:           http.StatusInternalServerError,
	keyplane.Unavailable:        http.StatusServiceUnavailable,
}

// writeError answers with {"error":{code,message,status}}. An error that is
// not an application error is logged with the request id and shown only as
// "internal error".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := keyplane.ErrorCode(err)
	var appErr *keyplane.Error
	switch {
	case r.Context().Err() != nil && errors.Is(err, r.Context().Err()):
		// The caller went away (or its deadline passed) and took the
		// statement with it: nobody reads this answer, and nothing failed
		// on keyplane's side.
		s.log.DebugContext(r.Context(), "request abandoned by the client", "method", keyplane.Clip(r.Method, 20), "path", logPath(r))
	case !errors.As(err, &appErr) || code == keyplane.Internal || code == keyplane.Unavailable:
		s.log.ErrorContext(r.Context(), "request failed", "method", keyplane.Clip(r.Method, 20), "path", logPath(r), "error", err)
	}
	noteOutcome(r, string(code))
	status := statusOf[code]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	wireStatus := string(code)
	if code == keyplane.RequestTooLarge {
		// google.rpc.Code has no "too large"; Google's own front ends answer
		// 413 with the status of a failed argument.
		wireStatus = string(keyplane.InvalidArgument)
	}
	if code == keyplane.Unauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="keyplane"`)
	}
	// Messages echo names from the request, which no rule bounds in a
	// request for something that does not exist: an answer is never much
	// larger than the question's useful part.
	writeJSON(w, status, api.ErrorBody{Error: api.ErrorDetail{
		Code: status, Message: keyplane.Clip(keyplane.ErrorMessage(err), maxMessageBytes), Status: wireStatus, Details: requestInfo(r),
	}})
}

// maxMessageBytes bounds an error message on the wire.
const maxMessageBytes = 2048

// requestInfo is the details list of every error answer: the request's id
// in a google.rpc.RequestInfo, as Apigee's errors carry it, so that a
// client's error report can be matched to keyplane's log line.
func requestInfo(r *http.Request) []api.ErrorDetailEntry {
	id := requestid.From(r.Context())
	if id == "" {
		return nil
	}
	return []api.ErrorDetailEntry{{Type: api.RequestInfoType, RequestID: id}}
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, keyplane.Errorf(keyplane.NotFound, "no route for %s %s", r.Method, clipPath(r.URL.Path)))
}

// methodNotAllowed answers a method that a path does not have as Google's
// front end does: the method and the path together select an API method,
// and when none matches the answer is 404 NOT_FOUND, "Method not found.",
// never 405.
func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, keyplane.Errorf(keyplane.NotFound, "Method not found."))
}

// clipPath shortens a request path for messages and logs.
func clipPath(p string) string { return keyplane.Clip(p, 200) }
