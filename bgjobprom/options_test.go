package bgjobprom_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobprom"
)

func TestNewCollectorRefusesBadInput(t *testing.T) {
	r, err := bgjob.NewRunner()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown(context.Background())
	sub, err := r.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	if _, err := bgjobprom.NewCollector(nil); !errors.Is(err, bgjobprom.ErrNilRunner) {
		t.Errorf("NewCollector(nil) = %v, want ErrNilRunner", err)
	}
	tests := []struct {
		name string
		give []bgjobprom.Option
	}{
		{"negative series limit", []bgjobprom.Option{bgjobprom.WithMaxJobSeries(-1)}},
		{"nil subscription", []bgjobprom.Option{bgjobprom.WithSubscription("ui", nil)}},
		{"empty subscription name", []bgjobprom.Option{bgjobprom.WithSubscription("", sub)}},
		{"subscription name not UTF-8", []bgjobprom.Option{bgjobprom.WithSubscription("ui\xff", sub)}},
		{"subscription name twice", []bgjobprom.Option{
			bgjobprom.WithSubscription("ui", sub), bgjobprom.WithSubscription("ui", sub),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := bgjobprom.NewCollector(r, tt.give...)
			if !errors.Is(err, bgjobprom.ErrInvalidOption) {
				t.Errorf("NewCollector = %v, %v; want an error wrapping ErrInvalidOption", c, err)
			}
		})
	}
}

func TestNewCollectorSkipsNilOptions(t *testing.T) {
	r, err := bgjob.NewRunner()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown(context.Background())
	if _, err := bgjobprom.NewCollector(r, nil, bgjobprom.WithMaxJobSeries(0)); err != nil {
		t.Error(err)
	}
}
