package capture

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tidemark/tidemark/formats"
)

func policyTestSchema() *formats.TableSchema {
	return &formats.TableSchema{
		Table: formats.TableID{DB: "shop", Table: "customers"},
		Columns: []formats.Column{
			{Name: "id", Type: formats.Type{Kind: formats.KindBigInt}},
			{Name: "Email", Type: formats.Type{Kind: formats.KindVarChar, Precision: 100}, Nullable: true},
			{Name: "ssn", Type: formats.Type{Kind: formats.KindChar, Precision: 11}, Nullable: true},
			{Name: "born", Type: formats.Type{Kind: formats.KindDate}},
			{Name: "tenant", Type: formats.Type{Kind: formats.KindInt}},
		},
		PK: []int{4, 0},
	}
}

func mustPolicy(t *testing.T, p ColumnPolicy) *policy {
	t.Helper()
	pol, err := compilePolicy(p)
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

func ref(s string) ColumnRef {
	r, err := ParseColumnRef(s)
	if err != nil {
		panic(err)
	}
	return r
}

func TestPolicyProjection(t *testing.T) {
	key := []byte("0123456789abcdef")
	pol := mustPolicy(t, ColumnPolicy{
		Exclude: []ColumnRef{ref("shop.customers.ssn")},
		Mask:    []ColumnRef{ref("shop.customers.email"), ref("shop.customers.born")},
		MaskKey: key,
	})
	pr, err := pol.plan(policyTestSchema())
	if err != nil || pr == nil {
		t.Fatalf("plan: %v, %v", pr, err)
	}
	var names []string
	for _, c := range pr.out.Columns {
		names = append(names, c.Name)
	}
	if want := []string{"id", "Email", "born", "tenant"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("columns %v, want %v (ssn excluded)", names, want)
	}
	if !reflect.DeepEqual(pr.out.Columns[1].Type, MaskedType()) || !pr.out.Columns[1].Nullable || !reflect.DeepEqual(pr.out.Columns[2].Type, MaskedType()) {
		t.Errorf("masked columns: %+v", pr.out.Columns)
	}
	if !reflect.DeepEqual(pr.out.PK, []int{3, 0}) {
		t.Errorf("primary key %v, want [3 0] (remapped past the excluded column)", pr.out.PK)
	}
	born := time.Date(1990, 5, 17, 0, 0, 0, 0, time.UTC)
	row := formats.Row{int64(7), "ann@example.com", "123-45-6789", born, int64(3)}
	got := pr.row(row)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("ann@example.com"))
	wantMail := hex.EncodeToString(mac.Sum(nil))
	mac = hmac.New(sha256.New, key)
	mac.Write([]byte("1990-05-17"))
	wantBorn := hex.EncodeToString(mac.Sum(nil))
	if want := (formats.Row{int64(7), wantMail, wantBorn, int64(3)}); !reflect.DeepEqual(got, want) {
		t.Fatalf("row %v, want %v", got, want)
	}
	if len(wantMail) != MaskedType().Precision {
		t.Errorf("masked value has %d characters, MaskedType says %d", len(wantMail), MaskedType().Precision)
	}
	if got := pr.row(formats.Row{int64(8), nil, nil, born, int64(3)}); got[1] != nil {
		t.Errorf("a NULL masked value must stay NULL, got %v", got[1])
	}

	// The snapshot path selects only the kept columns and masks them to
	// the same values.
	out, sel, fix, err := pol.snapshotPlan(policyTestSchema())
	if err != nil || fix == nil {
		t.Fatal(err, fix == nil)
	}
	if len(sel.Columns) != len(out.Columns) || sel.ColumnIndex("ssn") >= 0 || sel.Columns[1].Type.Kind != formats.KindVarChar || sel.Columns[1].Type.Precision != 100 {
		t.Fatalf("snapshot selects %+v", sel.Columns)
	}
	snap := formats.Row{int64(7), "ann@example.com", born, int64(3)}
	fix(snap)
	if !reflect.DeepEqual(snap, formats.Row{int64(7), wantMail, wantBorn, int64(3)}) {
		t.Errorf("snapshot row %v differs from the binlog path's", snap)
	}

	// Events: schema and both images.
	evs := []formats.Event{{Op: formats.OpUpdate, Schema: policyTestSchema(),
		Before: formats.Row{int64(7), "a@x", "1", born, int64(3)}, After: formats.Row{int64(7), "b@x", "2", born, int64(3)}}}
	pr.events(evs)
	if evs[0].Schema != pr.out || len(evs[0].Before) != 4 || len(evs[0].After) != 4 || evs[0].Before[1] == evs[0].After[1] {
		t.Errorf("event after policy: %+v", evs[0])
	}
}

func TestPolicyNoop(t *testing.T) {
	if p, err := compilePolicy(ColumnPolicy{}); p != nil || err != nil {
		t.Fatalf("an empty policy compiles to %v, %v; want nil (no cost)", p, err)
	}
	var none *policy
	if pr, err := none.plan(policyTestSchema()); pr != nil || err != nil {
		t.Fatal("nil policy planned something")
	}
	pol := mustPolicy(t, ColumnPolicy{Exclude: []ColumnRef{ref("shop.orders.note"), ref("shop.customers.nosuch")}})
	if pr, err := pol.plan(policyTestSchema()); pr != nil || err != nil {
		t.Errorf("a policy naming no column of the table planned %v, %v", pr, err)
	}
	s := policyTestSchema()
	out, sel, fix, err := pol.snapshotPlan(s)
	if out != s || sel != s || fix != nil || err != nil {
		t.Error("snapshot plan without effect should be the schema itself")
	}
}

func TestPolicyRefusals(t *testing.T) {
	if _, err := compilePolicy(ColumnPolicy{Mask: []ColumnRef{ref("shop.customers.email")}}); err == nil {
		t.Error("mask without a key accepted")
	}
	if _, err := compilePolicy(ColumnPolicy{Exclude: []ColumnRef{ref("shop.customers.email")}, Mask: []ColumnRef{ref("shop.customers.EMAIL")}, MaskKey: []byte("k")}); err == nil {
		t.Error("a column both excluded and masked accepted")
	}
	pol := mustPolicy(t, ColumnPolicy{Exclude: []ColumnRef{ref("shop.customers.tenant")}})
	if _, err := pol.plan(policyTestSchema()); !errors.Is(err, ErrPolicy) {
		t.Errorf("excluding a primary key column: %v, want ErrPolicy", err)
	}
	for _, bad := range []string{"shop.customers", "a.b.c.d", ".b.c", "a..c"} {
		if _, err := ParseColumnRef(bad); err == nil {
			t.Errorf("ParseColumnRef(%q) accepted", bad)
		}
	}
}

func TestMaskedValueStable(t *testing.T) {
	k := []byte("0123456789abcdef")
	a := MaskedValue(k, formats.Type{Kind: formats.KindVarChar, Precision: 10}, "x")
	b := MaskedValue(k, formats.Type{Kind: formats.KindText}, "x")
	if a != b {
		t.Error("equal values in different columns must mask equally (joins)")
	}
	if a == MaskedValue([]byte("another key 0123"), formats.Type{Kind: formats.KindText}, "x") {
		t.Error("the key does not change the hash")
	}
	if MaskedValue(k, formats.Type{Kind: formats.KindBigInt}, int64(42)) != MaskedValue(k, formats.Type{Kind: formats.KindVarChar}, "42") {
		t.Error("an integer masks as its text")
	}
}
