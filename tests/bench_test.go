package tests

import "testing"

// BenchmarkRender runs the whole program under mocks for each mode: the cost of a preview's
// program side, without the engine.
func BenchmarkRender(b *testing.B) {
	for _, m := range modes() {
		b.Run(m.Name, func(b *testing.B) {
			sc := m.Stack(b)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := run(b, sc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
