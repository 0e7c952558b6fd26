package sources

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestForName(t *testing.T) {
	require.NotEmpty(t, Supported())
	for _, name := range Supported() {
		_, ok := ForName(name)
		require.True(t, ok, name)
	}
	_, ok := ForName("nagios")
	require.False(t, ok)
}
