package sms

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/db"
)

// errBadSignature is the answer to a webhook that is not verifiably
// Twilio's: the same for an unknown tenant, a tenant without an Auth Token,
// another account and a wrong signature, so that nothing can be probed.
var errBadSignature = apperr.New(apperr.Forbidden, "The request signature is not valid.")

// verify checks that a webhook request comes from the tenant's Twilio
// account: X-Twilio-Signature over fullURL (built from LATCHKEY_BASE_URL)
// and the POST parameters, keyed with the tenant's Auth Token, and the
// AccountSid parameter.
func (s *Service) verify(ctx context.Context, tenantID, fullURL, signature string, form url.Values) error {
	if tenantID == "" || signature == "" {
		return errBadSignature
	}
	st, err := loadSettings(ctx, s.d.DB.Bun, tenantID)
	if err != nil {
		return err
	}
	if st == nil || len(st.AuthToken) == 0 {
		return errBadSignature
	}
	cred, err := s.credentialsOf(st)
	if err != nil {
		return err
	}
	if !ValidSignature(cred.authToken, fullURL, form, signature) {
		return errBadSignature
	}
	if form.Get("AccountSid") != st.AccountSID {
		return errBadSignature
	}
	return nil
}

// Twilio's message statuses, ranked: a callback never moves a message back
// (callbacks may arrive out of order).
var statusRank = map[string]int{
	"accepted": 1, "scheduled": 1, "queued": 1,
	"sending":   2,
	"sent":      3,
	"delivered": 4, "undelivered": 4, "failed": 4, "canceled": 4, "partially_delivered": 4,
	"read": 5,
}

// StatusCallback applies a verified Twilio status callback to the tenant's
// message: its delivery status (never moving back), and the reason of a
// failed delivery. A callback for an unknown message is ignored.
// Errors: Forbidden (not verifiably from the tenant's Twilio account).
func (s *Service) StatusCallback(ctx context.Context, tenantID, messageID, fullURL, signature string, form url.Values) error {
	if err := s.verify(ctx, tenantID, fullURL, signature, form); err != nil {
		return err
	}
	sid := form.Get("MessageSid")
	status := strings.ToLower(strings.TrimSpace(form.Get("MessageStatus")))
	if status == "" {
		status = strings.ToLower(strings.TrimSpace(form.Get("SmsStatus")))
	}
	rank, known := statusRank[status]
	if !known || sid == "" {
		return nil
	}
	derr := ""
	if code := strings.TrimSpace(form.Get("ErrorCode")); code != "" && code != "0" {
		derr = deliveryError(code)
	}
	idb := s.d.DB.Bun
	for range 3 {
		m, err := Get(ctx, idb, tenantID, messageID)
		if apperr.CodeOf(err) == apperr.NotFound {
			return nil
		}
		if err != nil {
			return err
		}
		if m.ProviderID != "" && m.ProviderID != sid {
			return nil
		}
		if statusRank[m.DeliveryStatus] >= rank {
			return nil
		}
		res, err := idb.NewUpdate().Model((*Record)(nil)).
			Set("delivery_status = ?", status).Set("delivery_error = ?", derr).
			Set("delivery_updated_at = ?", s.now()).Set("provider_id = ?", sid).
			Where("id = ? AND tenant_id = ? AND delivery_status = ?", m.ID, tenantID, m.DeliveryStatus).Exec(ctx)
		if err != nil {
			return fmt.Errorf("sms: status callback: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			if rank == 4 && status != "delivered" {
				s.d.Log.WarnContext(ctx, "sms not delivered", "message", m.ID, "to", MaskPhone(m.To), "status", status, "error", derr)
			}
			return nil
		}
		// Another callback moved it meanwhile: look again.
	}
	return nil
}

// deliveryError explains Twilio's delivery error codes (30xxx).
func deliveryError(code string) string {
	reasons := map[string]string{
		"30001": "the message queue overflowed",
		"30002": "the Twilio account is suspended",
		"30003": "the handset is unreachable (off or out of coverage)",
		"30004": "the message was blocked (the recipient or carrier blocks it)",
		"30005": "the number is unknown or no longer in service",
		"30006": "the number is a landline or cannot receive text messages",
		"30007": "the carrier filtered the message",
		"30008": "the carrier reported an unknown error",
		"30034": "the sender is not registered for A2P 10DLC messaging",
	}
	if r, ok := reasons[code]; ok {
		return "Twilio error " + code + ": " + r
	}
	return "Twilio error " + code
}

// Inbound applies a verified incoming message to the tenant's opt-out list:
// STOP (and Twilio's other opt-out keywords) adds the sender, START (and
// its synonyms) removes it; each change audited (`sms.opt_out`,
// `sms.opt_in`, number masked). Twilio's OptOutType parameter (Advanced
// Opt-Out) wins over the body. It returns the keyword it applied.
// Errors: Forbidden (not verifiably from the tenant's Twilio account).
func (s *Service) Inbound(ctx context.Context, tenantID, fullURL, signature string, form url.Values) (Keyword, error) {
	if err := s.verify(ctx, tenantID, fullURL, signature, form); err != nil {
		return KeywordNone, err
	}
	from := strings.TrimSpace(form.Get("From"))
	body := form.Get("Body")
	kw := KeywordOf(body)
	switch strings.ToUpper(form.Get("OptOutType")) {
	case "STOP":
		kw = KeywordOptOut
	case "START":
		kw = KeywordOptIn
	}
	if kw == KeywordNone || !ValidE164(from) {
		return KeywordNone, nil
	}
	word := strings.ToUpper(strings.TrimSpace(body))
	if len(word) > 20 {
		word = word[:20]
	}
	now := s.now()
	err := s.d.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		var (
			n     int64
			entry audit.Entry
		)
		if kw == KeywordOptOut {
			res, err := tx.NewInsert().Model(&optOut{TenantID: tenantID, Phone: from, Keyword: word, OptedOutAt: now}).
				On("CONFLICT (tenant_id, phone) DO NOTHING").Exec(ctx)
			if err != nil {
				return fmt.Errorf("sms: opt out: %w", err)
			}
			n, _ = res.RowsAffected()
			entry = audit.Entry{Action: "sms.opt_out", Detail: "replied " + word + ": no more text messages to this number"}
		} else {
			res, err := tx.NewDelete().Model((*optOut)(nil)).Where("tenant_id = ? AND phone = ?", tenantID, from).Exec(ctx)
			if err != nil {
				return fmt.Errorf("sms: opt in: %w", err)
			}
			n, _ = res.RowsAffected()
			entry = audit.Entry{Action: "sms.opt_in", Detail: "replied " + word + ": text messages allowed again"}
		}
		if n == 0 {
			return nil // no change
		}
		entry.TargetType, entry.Target = "phone", MaskPhone(from)
		return audit.Record(ctx, tx, now, audit.System(tenantID), entry)
	})
	if err != nil {
		return KeywordNone, err
	}
	s.d.Log.InfoContext(ctx, "sms keyword", "tenant", tenantID, "from", MaskPhone(from), "opt_out", kw == KeywordOptOut)
	return kw, nil
}
