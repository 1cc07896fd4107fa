package selfserve

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/agent"
	"github.com/latchkey/latchkey/app/agent/wire"
)

func TestOutcomeOf(t *testing.T) {
	t.Parallel()
	o := outcomeOf(&agent.Task{Kind: wire.KindReset, State: agent.StateSent})
	require.True(t, o.Waiting)
	o = outcomeOf(&agent.Task{Kind: wire.KindReset, State: agent.StateDone})
	require.True(t, o.OK)
	require.Equal(t, "Your password is changed.", o.Title)
	o = outcomeOf(&agent.Task{Kind: wire.KindUnlock, State: agent.StateDone})
	require.Equal(t, "Your account is unlocked.", o.Title)
	o = outcomeOf(&agent.Task{Kind: wire.KindReset, State: agent.StateFailed, ErrorKind: "policy",
		ErrorMessage: "The directory rejected the password: use at least 14 characters."})
	require.True(t, o.Policy)
	require.Contains(t, o.Message, "did not accept this password. Use at least 14 characters. Choose another one.")
	o = outcomeOf(&agent.Task{Kind: wire.KindUnlock, State: agent.StateExpired, ErrorKind: agent.ErrKindExpired})
	require.False(t, o.Policy)
	require.Contains(t, o.Message, "did not answer in time")
	o = outcomeOf(&agent.Task{Kind: wire.KindReset, State: agent.StateFailed, ErrorKind: "unreachable", ErrorMessage: "LDAP down at 10.0.0.1"})
	require.NotContains(t, o.Message, "10.0.0.1", "the directory's internals stay with the technician")
}

func TestIdentifiers(t *testing.T) {
	t.Parallel()
	require.Equal(t, "ann", normalizeTyped(` GLOBEX\ann `))
	require.Equal(t, `ann@globex.example`, normalizeTyped("ann@globex.example"))
	a, b := subjectOf("t1", "", "Nobody"), subjectOf("t1", "", " nobody ")
	require.Equal(t, a, b, "the same typed name, whatever its case and spaces")
	require.NotEqual(t, a, subjectOf("t2", "", "nobody"), "keyed by tenant")
	require.Equal(t, "u:id1", subjectOf("t1", "id1", "nobody"))

	now := time.Now()
	f := &Flow{Purpose: PurposeReset, StartedAt: now}
	require.False(t, f.Expired(now.Add(StepLifetime)))
	require.True(t, f.Expired(now.Add(StepLifetime+time.Second)))
	f.ProvenAt, f.Purpose = &now, PurposeEnrol
	require.False(t, f.Expired(now.Add(StepLifetime+time.Minute)), "enrolment steps after the proof get longer")
}
