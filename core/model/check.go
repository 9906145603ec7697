package model

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// maxProblems is how many problems Check describes before it only counts.
const maxProblems = 10

// Check verifies the collection: every stored value decodes and holds its
// own key, and the indexes hold exactly the entries a rebuild from the
// stored values would write — none missing, none stale, no unique value
// held twice. It holds the collection's writer lock while it reads, so
// writers wait. The error wraps ErrCorrupt and describes the first
// problems.
func (c *Collection[K, T]) Check(ctx context.Context) error {
	if err := c.s.closed(); err != nil {
		return c.errorf("check: %w", err)
	}
	c.st.mu.Lock()
	defer c.st.mu.Unlock()

	var problems []string
	n := 0
	report := func(format string, args ...any) {
		if n++; n <= maxProblems {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}

	want := make(map[string]bool)
	claims := make(map[string]string)
	for e, err := range c.scan(ctx, c.valuePrefix[:len(c.valuePrefix)-1], false, bounds{}, c.keySegment, true) {
		if err != nil {
			return err
		}
		kseg := c.keySegment(e.Key)
		v, err := c.decodeStored(kseg, e.Value)
		if err != nil {
			report("%v", err)
			continue
		}
		for _, en := range c.entries(reflect.ValueOf(&v).Elem(), kseg) {
			want[en.key] = true
			if other, ok := claims[en.claim]; en.uniq && ok {
				index, vseg := splitClaim(en.claim)
				report("unique index %s holds value %s for keys %s and %s", index, c.describeIndexValue(index, vseg), c.describeKey(other), c.describeKey(kseg))
			}
			claims[en.claim] = kseg
		}
	}
	for k, err := range c.keys(ctx, c.indexPrefix[:len(c.indexPrefix)-1]) {
		if err != nil {
			return err
		}
		if want[k] {
			delete(want, k)
			continue
		}
		report("stale index entry %s", k)
	}
	missing := make([]string, 0, len(want))
	for k := range want {
		missing = append(missing, k)
	}
	slices.Sort(missing)
	for _, k := range missing {
		report("missing index entry %s", k)
	}
	if n == 0 {
		return nil
	}
	if n > len(problems) {
		problems = append(problems, fmt.Sprintf("and %d more", n-len(problems)))
	}
	return c.errorf("check: %w: %d problems: %s", ErrCorrupt, n, strings.Join(problems, "; "))
}
