package snap

import (
	"slices"
	"testing"

	"github.com/ironraft/ironraft/vfs"
)

// After Load falls back past a corrupt newest snapshot, that file is set
// aside: it is not loaded again and does not block saving a snapshot that
// sorts below it (which Save would otherwise refuse as older).
func TestLoadSetsAsideCorruptSnapshot(t *testing.T) {
	m := vfs.NewMem()
	s, _ := mustNew(t, m, "/snap", 3)
	for _, sn := range []struct{ term, index uint64 }{{1, 10}, {2, 20}} {
		if err := s.Save(snapshot(sn.term, sn.index, "d", 1)); err != nil {
			t.Fatal(err)
		}
	}
	newest := "/snap/" + fileName(2, 20)
	m.FlipBit(newest, 16, 0)
	got, err := s.Load()
	if err != nil || got.GetMetadata().GetIndex() != 10 {
		t.Fatalf("Load() = %v, %v; want the snapshot at 10", got.GetMetadata(), err)
	}
	names, err := m.List("/snap")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, fileName(2, 20)+CorruptSuffix) || slices.Contains(names, fileName(2, 20)) {
		t.Fatalf("files after fallback = %v, want %s set aside", names, fileName(2, 20))
	}
	if err := s.Save(snapshot(2, 15, "d", 1)); err != nil {
		t.Fatalf("Save(15) after fallback = %v", err)
	}
	if got, err := s.Load(); err != nil || got.GetMetadata().GetIndex() != 15 {
		t.Fatalf("Load() = %v, %v; want the snapshot at 15", got.GetMetadata(), err)
	}
}
