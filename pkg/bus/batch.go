package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

// MaxBatch is the most messages PublishBatch stores at once: the JetStream
// server's default limit on an atomic batch.
const MaxBatch = 1000

// errCodeBatchDuplicate is JSAtomicPublishContainsDuplicateMessageErr in
// nats-server's errors.json.
const errCodeBatchDuplicate = 10201

// ErrBatchHasDuplicate says the server refused an atomic batch because at
// least one of its messages has a Nats-Msg-Id it stored before. Nothing of
// the batch was stored; PublishEach finds out which ones are new.
var ErrBatchHasDuplicate = errors.New("the batch holds a message stored before")

// Outgoing is one message of a batch.
type Outgoing struct {
	Subject string
	// MsgID is the message's idempotency key (Nats-Msg-Id and ce-id).
	MsgID   string
	Message proto.Message
}

// PublishBatch stores msgs atomically, using JetStream's atomic batch
// publish: the stream holds all of them or, if anything fails, none. The
// stream must allow atomic publish (StreamConfig.AllowAtomicPublish) and
// all subjects must belong to it. It returns the stream sequence of the
// last message.
//
// If any message's MsgID was stored before (within the duplicate window),
// the server refuses the whole batch and PublishBatch returns
// ErrBatchHasDuplicate, having stored nothing.
func (p *Publisher) PublishBatch(ctx context.Context, msgs []Outgoing) (uint64, error) {
	switch {
	case len(msgs) == 0:
		return 0, errors.New("publish batch: no messages")
	case len(msgs) > MaxBatch:
		return 0, fmt.Errorf("publish batch: %d messages is more than the %d an atomic batch may hold", len(msgs), MaxBatch)
	}
	for i, o := range msgs {
		if o.MsgID == "" {
			return 0, fmt.Errorf("publish batch: message %d has no id", i)
		}
	}
	ctx, span := p.tracer.Start(ctx, "publish batch", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", msgs[0].Subject),
			attribute.Int("messaging.batch.message_count", len(msgs)),
		))
	defer span.End()
	seq, err := p.publishBatch(ctx, msgs)
	switch {
	case errors.Is(err, ErrBatchHasDuplicate):
		span.SetAttributes(attribute.Bool("messaging.nats.duplicate", true))
		return 0, err
	case err != nil:
		span.SetStatus(codes.Error, err.Error())
		return 0, fmt.Errorf("publish batch of %d messages: %w", len(msgs), err)
	}
	return seq, nil
}

func (p *Publisher) publishBatch(ctx context.Context, msgs []Outgoing) (uint64, error) {
	nc := p.js.Conn()
	// A fresh batch id per attempt: a retry after a lost reply starts a new
	// batch, which the server refuses through the messages' Nats-Msg-Ids if
	// the first attempt was in fact stored.
	batch := uuid.NewString()
	for i, o := range msgs {
		msg, err := p.message(ctx, o.Subject, o.MsgID, o.Message)
		if err != nil {
			return 0, err
		}
		msg.Header.Set("Nats-Batch-Id", batch)
		msg.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		if i < len(msgs)-1 {
			// Staged without a reply: the server answers once, for the
			// commit, with the outcome of the whole batch.
			if err := nc.PublishMsg(msg); err != nil {
				return 0, err
			}
			continue
		}
		msg.Header.Set("Nats-Batch-Commit", "1")
		reply, err := nc.RequestMsgWithContext(ctx, msg)
		if err != nil {
			return 0, err
		}
		return parseBatchAck(reply)
	}
	panic("unreachable: msgs is not empty")
}

// batchAckJSON is the server's answer to a batch commit.
type batchAckJSON struct {
	Sequence uint64 `json:"seq"`
	Count    int    `json:"count"`
	Error    *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

func parseBatchAck(reply *nats.Msg) (uint64, error) {
	var a batchAckJSON
	if err := json.Unmarshal(reply.Data, &a); err != nil {
		return 0, fmt.Errorf("unreadable batch acknowledgement %q: %w", reply.Data, err)
	}
	if a.Error != nil {
		if a.Error.ErrCode == errCodeBatchDuplicate {
			return 0, ErrBatchHasDuplicate
		}
		return 0, fmt.Errorf("server refused the batch: %s (code %d)", a.Error.Description, a.Error.ErrCode)
	}
	return a.Sequence, nil
}

// PublishEach stores msgs one by one, in order, without waiting for each
// acknowledgement before sending the next (asynchronous publish on one
// connection keeps the order). It reports which messages were duplicates.
// It is not atomic: if it fails part way, the messages before the failure
// may be stored; publishing the same messages again stores only the rest.
func (p *Publisher) PublishEach(ctx context.Context, msgs []Outgoing) (duplicate []bool, err error) {
	ctx, span := p.tracer.Start(ctx, "publish each", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.Int("messaging.batch.message_count", len(msgs)),
		))
	defer span.End()
	futures := make([]jetstream.PubAckFuture, len(msgs))
	for i, o := range msgs {
		if o.MsgID == "" {
			return nil, fmt.Errorf("publish: message %d has no id", i)
		}
		msg, err := p.message(ctx, o.Subject, o.MsgID, o.Message)
		if err != nil {
			return nil, err
		}
		if futures[i], err = p.js.PublishMsgAsync(msg); err != nil {
			span.SetStatus(codes.Error, err.Error())
			return nil, fmt.Errorf("publish %s: %w", o.MsgID, err)
		}
	}
	duplicate = make([]bool, len(msgs))
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			duplicate[i] = ack.Duplicate
		case err := <-f.Err():
			span.SetStatus(codes.Error, err.Error())
			return nil, fmt.Errorf("publish %s: %w", msgs[i].MsgID, err)
		case <-ctx.Done():
			span.SetStatus(codes.Error, ctx.Err().Error())
			return nil, fmt.Errorf("publish %s: %w", msgs[i].MsgID, ctx.Err())
		}
	}
	return duplicate, nil
}
