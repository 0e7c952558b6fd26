package sources

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestForName(t *testing.T) {
	require.Contains(t, Supported(), AWSDirectConnect)
	for _, name := range Supported() {
		_, ok := ForName(name)
		require.Equal(t, name != AWSDirectConnect, ok, name)
		require.NotEmpty(t, Credentials(name), name)
	}
	_, ok := ForName("nagios")
	require.False(t, ok)
	require.Equal(t, []Credential{SigningSecrets}, Credentials(PagerDuty))
	require.Equal(t, []Credential{RoutingKeys}, Credentials(PagerDutyEvents))
}
