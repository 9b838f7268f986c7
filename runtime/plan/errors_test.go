package plan

import (
	"errors"
	"testing"

	"github.com/edged-gateway/edged/internal/yamlconf"
)

func TestInvalidError(t *testing.T) {
	err := error(&InvalidError{Problems: yamlconf.Errors{
		{Path: "version", Line: 1, Msg: "bad"},
		{Path: "gateway", Msg: "missing"},
	}})
	if want := "invalid plan: 2 problem(s):\n  version: bad (line 1)\n  gateway: missing"; err.Error() != want {
		t.Fatalf("%q", err)
	}
	var problems yamlconf.Errors
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &problems) || len(problems) != 2 {
		t.Fatal("InvalidError does not unwrap to ErrInvalid and its problems")
	}
	for _, sentinel := range []error{ErrTooLarge, ErrMalformedEnvelope, ErrUnknownKey, ErrBadSignature, ErrStale} {
		if errors.Is(err, sentinel) {
			t.Errorf("InvalidError matches %v", sentinel)
		}
	}
}
