-- A text message kept in the outbox (SMS not set up) had its text written in
-- clear to body_text, beside the encrypted copy in data that every text
-- message has. The outbox now decrypts data (sms.Text); the clear copies go.
UPDATE messages SET body_text = '' WHERE channel = 'sms' AND body_text <> '';
