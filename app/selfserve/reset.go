package selfserve

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/latchkey/latchkey/app/agent"
	"github.com/latchkey/latchkey/app/agent/wire"
	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/db"
)

// ResetPassword sets the proven end user's new password: checked against
// their rules (Invalid with Fields["password"] listing what it breaks, the
// blocklist included), then a directory task with the policy hints control
// (the directory applies history, as for a change the end user makes
// themselves), not temporary. The password is encrypted until the task
// ends (app/agent). Audited as selfserve.reset_request now, and as
// enduser.password_reset when the task ends. The flow carries the task.
// Errors: Conflict (flow not proven or expired; no agent), Invalid,
// Forbidden (self-serve no longer allowed for the account).
func (s *Service) ResetPassword(ctx context.Context, f *Flow, pw, ip string) (*Flow, *agent.Task, error) {
	if err := s.requireProven(f, PurposeReset); err != nil {
		return nil, nil, err
	}
	r, err := s.FlowRules(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	if pw == "" {
		return nil, nil, apperr.Field("password", "Choose a new password.")
	}
	if v := r.Blocking(r.Check(pw)); len(v) > 0 {
		msgs := make([]string, len(v))
		for i, x := range v {
			msgs[i] = x.Message
		}
		return nil, nil, apperr.Field("password", strings.Join(msgs, " "))
	}
	return s.directoryTask(ctx, f, ip, "selfserve.reset_request", "new password sent to the directory", func(a audit.Actor) (*agent.Task, error) {
		return s.d.Agents.Reset(ctx, a, agent.ResetInput{EndUserID: f.EndUserID, Password: pw, SelfService: true})
	})
}

// Unlock unlocks the proven end user's account without changing the
// password (a directory task). Audited as selfserve.unlock_request now and
// enduser.unlock when the task ends.
// Errors: Conflict (flow; no agent), Forbidden.
func (s *Service) Unlock(ctx context.Context, f *Flow, ip string) (*Flow, *agent.Task, error) {
	if err := s.requireProven(f, PurposeUnlock); err != nil {
		return nil, nil, err
	}
	return s.directoryTask(ctx, f, ip, "selfserve.unlock_request", "unlock sent to the directory", func(a audit.Actor) (*agent.Task, error) {
		return s.d.Agents.Unlock(ctx, a, f.EndUserID)
	})
}

func (s *Service) directoryTask(ctx context.Context, f *Flow, ip, action, detail string, queue func(audit.Actor) (*agent.Task, error)) (*Flow, *agent.Task, error) {
	acc, err := loadAccount(ctx, s.d.DB.Bun, f.TenantID, f.EndUserID)
	if err != nil {
		return nil, nil, err
	}
	if why := acc.Ineligibility(f.Purpose); why != "" {
		return nil, nil, apperr.New(apperr.Forbidden, "Self-serve is not available for your account any more. Contact your IT provider.")
	}
	a := endUserActor(f.TenantID, acc.Name(), ip)
	t, err := queue(a)
	if err != nil {
		if apperr.CodeOf(err) == apperr.Conflict {
			// No agent or directory settings: the end user cannot fix it.
			return nil, nil, apperr.Wrap(apperr.Conflict, err, "Your password cannot be changed from here right now. Contact your IT provider.")
		}
		return nil, nil, err
	}
	if err := s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		return audit.Record(ctx, tx, s.now(), a, audit.Entry{Action: action, TargetType: "end_user", TargetID: acc.ID,
			Target: acc.Username, Detail: detail + " (task " + t.ID + ")"})
	}); err != nil {
		return nil, nil, err
	}
	out := *f
	out.TaskID = t.ID
	return &out, t, nil
}

// Outcome is how a reset or unlock ended, in the end user's words.
type Outcome struct {
	Waiting bool
	OK      bool
	// Policy: the directory refused the password (choose another).
	Policy  bool
	Title   string
	Message string
}

// Outcome waits up to wait for the flow's directory task and says how it
// went. The flow stays usable after a policy refusal (choose another
// password).
// Errors: Conflict (no task in the flow).
func (s *Service) Outcome(ctx context.Context, f *Flow, wait time.Duration) (*Outcome, error) {
	if f == nil || f.TaskID == "" || f.EndUserID == "" {
		return nil, errFlowGone()
	}
	t, err := s.d.Agents.Wait(ctx, f.TenantID, f.TaskID, wait)
	if err != nil {
		return nil, err
	}
	if t.EndUserID != f.EndUserID {
		return nil, errFlowGone()
	}
	return outcomeOf(t), nil
}

func outcomeOf(t *agent.Task) *Outcome {
	reset := t.Kind == wire.KindReset
	if !t.Ended() {
		return &Outcome{Waiting: true, Title: "Working on it…", Message: "Your company's directory is being updated. This usually takes a few seconds."}
	}
	if t.State == agent.StateDone {
		if reset {
			return &Outcome{OK: true, Title: "Your password is changed.",
				Message: "Use your new password from now on: to sign in to your computer, email and other work apps. Signed-in apps may ask for it again."}
		}
		return &Outcome{OK: true, Title: "Your account is unlocked.", Message: "Sign in again with your usual password. Type it carefully: too many wrong tries lock it again."}
	}
	o := &Outcome{Title: "Your password was not changed."}
	if !reset {
		o.Title = "Your account was not unlocked."
	}
	var res wire.Result
	_ = json.Unmarshal([]byte(t.Result), &res)
	switch {
	case reset && t.ErrorKind == "policy":
		o.Policy = true
		o.Message = "Your company's directory did not accept this password. " + policyText(t.ErrorMessage) + " Choose another one."
	case t.ErrorKind == "disabled":
		o.Message = "Your account is disabled. Contact your IT provider."
	case t.State == agent.StateExpired || t.ErrorKind == agent.ErrKindTimeout:
		o.Message = "Your company's directory did not answer in time. Try again in a few minutes, or contact your IT provider."
	default:
		o.Message = "Something went wrong on the way to your company's directory. Try again later, or contact your IT provider."
	}
	return o
}

// policyText keeps the directory's explanation when it reads as one.
func policyText(msg string) string {
	msg = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(msg), "The directory rejected the password:"))
	if msg == "" || len(msg) > 300 {
		return "It may be too short, too simple, or one you used before."
	}
	return strings.ToUpper(msg[:1]) + msg[1:]
}
