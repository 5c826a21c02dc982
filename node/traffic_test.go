package node

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// The metrics list by type the very counts Status sums: both read one
// traffic.
func TestTrafficSeriesSumToStatusTotals(t *testing.T) {
	var tr traffic
	tr.add(lsync.MsgSyn, 100)
	tr.add(lsync.MsgSyn, 50)
	tr.add(lsync.MsgBeat, 20)
	tr.add(undecodable, 7)
	msgsDesc := prometheus.NewDesc("msgs", "", []string{"type"}, nil)
	bytesDesc := prometheus.NewDesc("bytes", "", []string{"type"}, nil)
	got := map[*prometheus.Desc]map[string]uint64{msgsDesc: {}, bytesDesc: {}}
	trafficByType(&tr, listedIn, msgsDesc, bytesDesc, func(d *prometheus.Desc, v uint64, labels ...string) {
		if _, dup := got[d][labels[0]]; dup {
			t.Errorf("two series for type %q", labels[0])
		}
		got[d][labels[0]] = v
	})
	msgs, bytes := tr.total()
	var sumMsgs, sumBytes uint64
	for _, v := range got[msgsDesc] {
		sumMsgs += v
	}
	for _, v := range got[bytesDesc] {
		sumBytes += v
	}
	if msgs != 4 || bytes != 177 || sumMsgs != msgs || sumBytes != bytes {
		t.Fatalf("totals %d msgs %d bytes; series sum to %d and %d", msgs, bytes, sumMsgs, sumBytes)
	}
	if got[msgsDesc]["syn"] != 2 || got[bytesDesc]["syn"] != 150 || got[msgsDesc]["beat"] != 1 || got[msgsDesc]["invalid"] != 1 {
		t.Fatalf("by type: %v %v", got[msgsDesc], got[bytesDesc])
	}
	for _, l := range listedIn {
		if _, ok := got[msgsDesc][l]; !ok {
			t.Errorf("type %q not listed at zero", l)
		}
	}
}
