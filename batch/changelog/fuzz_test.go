package changelog

import (
	"testing"

	"github.com/tidemark/tidemark/formats"
)

// FuzzDecodeLines feeds arbitrary lines to the segment decoder: it must
// return errors, never panic, whatever a damaged object holds.
func FuzzDecodeLines(f *testing.F) {
	e := newEncoder()
	for i := 0; i < 3; i++ {
		if err := e.appendTxn(testTxn(i)); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(e.buf)
	f.Add([]byte(`{"kind":"event","op":"insert","schema":1,"before":null,"after":[1,{"base64":"/w=="}]}`))
	f.Add([]byte(`{"kind":"schema","id":1,"table":"a.b","columns":[{"name":"x","type":"decimal(65,30)"}],"pk":[0]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := newDecoder()
		var txn *formats.Txn
		start := 0
		for i := 0; i <= len(data); i++ {
			if i < len(data) && data[i] != '\n' {
				continue
			}
			line := data[start:i]
			start = i + 1
			switch lineKind(line) {
			case "schema":
				d.schema(line)
			case "txn":
				txn, _, _ = d.txn(line)
			case "event":
				if txn != nil {
					d.event(line, txn)
				}
			}
		}
	})
}
