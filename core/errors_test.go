package core_test

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/netabase/netabase/core"
)

func TestErrorf(t *testing.T) {
	err := core.Errorf(core.ErrNotFound, "no record %s here; put it first", "/a/b")
	if err.Error() != "no record /a/b here; put it first" {
		t.Errorf("message %q carries more than the sentence", err)
	}
	if !errors.Is(err, core.ErrNotFound) {
		t.Error("errors.Is does not see the kind")
	}
	wrapped := core.Errorf(core.ErrRejected, "record x: %w", fs.ErrPermission)
	if !errors.Is(wrapped, core.ErrRejected) || !errors.Is(wrapped, fs.ErrPermission) || errors.Is(wrapped, core.ErrNotFound) {
		t.Errorf("%v matches the wrong sentinels", wrapped)
	}
}
