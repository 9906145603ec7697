package gateway

import "testing"

// TestRatesRecordRefusedForBytes: a record the byte rate refuses spends
// no record token, so the next record that fits the byte rate is taken;
// and one the record rate refuses spends no bytes.
func TestRatesRecordRefusedForBytes(t *testing.T) {
	// One record in 100 s, and a burst of bytes of one message.
	rt := newRates(0.01, 1)
	burst := rt.bytes.Burst()
	if rt.allowRecord(burst + 1) {
		t.Fatal("a record past the byte burst was allowed")
	}
	if !rt.allowRecord(10) {
		t.Fatal("after a record the byte rate refused, the next record was refused: the refused one spent the record token")
	}
	before := rt.bytes.Tokens()
	if rt.allowRecord(10) {
		t.Fatal("a second record within 100 s was allowed")
	}
	if after := rt.bytes.Tokens(); after < before-1 {
		t.Errorf("a record the record rate refused spent %.0f bytes", before-after)
	}
}
