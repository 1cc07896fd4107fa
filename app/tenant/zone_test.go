package tenant_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/tenant"
)

func TestCountryOfZone(t *testing.T) {
	t.Parallel()
	for zone, want := range map[string]string{
		"America/New_York": "+1", "America/Toronto": "+1", "America/Indiana/Indianapolis": "+1", "Pacific/Honolulu": "+1",
		"America/Mexico_City": "+52", "America/Sao_Paulo": "+55", "America/Argentina/Cordoba": "+54",
		"Europe/London": "+44", "Europe/Dublin": "+353", "Australia/Sydney": "+61", "Pacific/Auckland": "+64",
		"Asia/Kolkata": "+91", "UTC": "", "": "", "America/Lima": "",
	} {
		require.Equal(t, want, tenant.CountryOfZone(zone), zone)
	}
	for _, c := range tenant.Countries { // every offered country has a zone
		found := false
		for _, z := range []string{"America/New_York", "Europe/London", "Europe/Dublin", "Australia/Sydney", "Pacific/Auckland",
			"Africa/Johannesburg", "America/Argentina/Cordoba", "Europe/Vienna", "Europe/Brussels", "America/Sao_Paulo", "Asia/Shanghai",
			"America/Bogota", "Europe/Prague", "Europe/Copenhagen", "Europe/Helsinki", "Europe/Paris", "Europe/Berlin", "Europe/Athens",
			"Asia/Hong_Kong", "Asia/Kolkata", "Asia/Jerusalem", "Europe/Rome", "Asia/Tokyo", "Africa/Nairobi", "Asia/Kuala_Lumpur",
			"America/Mexico_City", "Europe/Amsterdam", "Africa/Lagos", "Europe/Oslo", "Asia/Manila", "Europe/Warsaw", "Europe/Lisbon",
			"Asia/Singapore", "Asia/Seoul", "Europe/Madrid", "Europe/Stockholm", "Europe/Zurich", "Asia/Dubai"} {
			if tenant.CountryOfZone(z) == c.Code {
				found = true
			}
		}
		require.True(t, found, c.Name)
	}
}
