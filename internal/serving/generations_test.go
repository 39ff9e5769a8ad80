package serving

import (
	"context"
	"testing"
	"time"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
	"github.com/tidemark/tidemark/realtime/redisview"
)

func parseView(t *testing.T, name string) *formats.View {
	t.Helper()
	v, err := formats.ParseView(formats.ViewSpec{Name: name, From: "shop.orders", GroupBy: []string{"status"}, Measures: []string{"count()"}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestFirstGenerationFromRedis: an empty store numbers the lake from 0; once
// the speed layer's bootstrap published a generation for one view, the
// lake's first generation comes after the newest published one.
func TestFirstGenerationFromRedis(t *testing.T) {
	ctx := context.Background()
	r := stack.Redis(t)
	pub := Publisher{Store: redisview.New(r.Client(t), redisview.Options{Prefix: "tm"})}
	a, b := parseView(t, "a"), parseView(t, "b")
	views := []*formats.View{a, b}

	if g, err := batch.FirstGeneration(ctx, pub, views); err != nil || g != 0 {
		t.Fatalf("empty store: FirstGeneration = %d, %v; want 0", g, err)
	}
	cut := formats.Position{File: "mariadb-bin.000001", Offset: 4}
	if err := pub.PublishAgg(ctx, a, 0, cut, 0, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	if g, err := batch.FirstGeneration(ctx, pub, views); err != nil || g != 1 {
		t.Fatalf("generation 0 of a published: FirstGeneration = %d, %v; want 1", g, err)
	}
	if err := pub.PublishAgg(ctx, b, 4, cut, 0, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	if g, err := batch.FirstGeneration(ctx, pub, views); err != nil || g != 5 {
		t.Fatalf("generation 4 of b published: FirstGeneration = %d, %v; want 5", g, err)
	}
	if g, ok, err := pub.PublishedGeneration(ctx, "nosuch"); err != nil || ok || g != 0 {
		t.Errorf("PublishedGeneration of an unknown view = %d, %v, %v; want 0, false, nil", g, ok, err)
	}
}
