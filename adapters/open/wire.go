package open

// The normalized open-messaging wire format, modelled on Genesys Cloud Open Messaging.
// One struct serves both directions; fields a direction does not use are omitted.

// Message types.
const (
	typeText    = "Text"
	typeReceipt = "Receipt"
	typeEvent   = "Event"
)

// Directions.
const (
	directionInbound  = "Inbound"
	directionOutbound = "Outbound"
)

type message struct {
	ID        string    `json:"id,omitempty"`
	Channel   channel   `json:"channel"`
	Type      string    `json:"type"`
	Text      string    `json:"text,omitempty"`
	Content   []content `json:"content,omitempty"`
	Events    []event   `json:"events,omitempty"`
	Status    string    `json:"status,omitempty"`
	Reasons   []reason  `json:"reasons,omitempty"`
	Direction string    `json:"direction,omitempty"`
}

type channel struct {
	Platform  string `json:"platform,omitempty"`
	Type      string `json:"type,omitempty"`
	MessageID string `json:"messageId,omitempty"`
	To        *party `json:"to,omitempty"`
	From      *party `json:"from,omitempty"`
	Time      string `json:"time,omitempty"`
}

type party struct {
	ID        string `json:"id"`
	IDType    string `json:"idType,omitempty"`
	Nickname  string `json:"nickname,omitempty"`
	FirstName string `json:"firstName,omitempty"`
	LastName  string `json:"lastName,omitempty"`
}

type content struct {
	ContentType string      `json:"contentType"`
	Attachment  *attachment `json:"attachment,omitempty"`
}

type attachment struct {
	MediaType string `json:"mediaType"`
	URL       string `json:"url"`
	Mime      string `json:"mime,omitempty"`
}

type event struct {
	EventType string  `json:"eventType"`
	Typing    *typing `json:"typing,omitempty"`
}

type typing struct {
	Type string `json:"type"`
}

type reason struct {
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// timeLayout is RFC 3339 with millisecond precision, as open-messaging payloads carry it.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"
