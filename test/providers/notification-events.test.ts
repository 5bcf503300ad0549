import { describe, expect, it } from 'vitest';
import { eventId } from '../../src/core/ids.js';
import type { DomainEvent } from '../../src/events/types.js';
import { notificationEmitter } from '../../src/providers/notification-events.js';

const source = { notification_id: 'n1', notification_type: 'payment' };

describe('notificationEmitter', () => {
  it('numbers events by position and stamps each with the notification; previous_attributes only when given', () => {
    const events: DomainEvent[] = [];
    const emit = notificationEmitter(events, { provider: 'apple', notificationId: 'n1', created: '2026-11-27T12:00:00.000Z', livemode: true, source });
    emit('provider.notification.received', { a: 1 });
    emit('customer.subscription.updated', { id: 'sub_1' } as never, { status: 'active' });
    expect(events).toStrictEqual([
      {
        id: eventId('apple', 'n1', 0),
        type: 'provider.notification.received',
        created: '2026-11-27T12:00:00.000Z',
        provider: 'apple',
        livemode: true,
        data: { object: { a: 1 } },
        source,
      },
      {
        id: eventId('apple', 'n1', 1),
        type: 'customer.subscription.updated',
        created: '2026-11-27T12:00:00.000Z',
        provider: 'apple',
        livemode: true,
        data: { object: { id: 'sub_1' }, previous_attributes: { status: 'active' } },
        source,
      },
    ]);
  });

  it('the same notification applied again names the same events', () => {
    const run = () => {
      const events: DomainEvent[] = [];
      const emit = notificationEmitter(events, { provider: 'xsolla', notificationId: 'n2', created: 'c', livemode: false, source });
      emit('provider.notification.received', {});
      emit('test.notification', {});
      return events.map((e) => e.id);
    };
    expect(run()).toEqual(run());
    expect(new Set(run()).size).toBe(2);
  });

  it('reads the stamp at each emit: a getter that changes is seen by the events after the change', () => {
    const events: DomainEvent[] = [];
    let created = 'first';
    let livemode = true;
    const emit = notificationEmitter(events, {
      provider: 'xsolla',
      notificationId: 'n3',
      source,
      get created() {
        return created;
      },
      get livemode() {
        return livemode;
      },
    });
    emit('provider.notification.received', {});
    created = 'second';
    livemode = false;
    emit('test.notification', {});
    expect(events.map((e) => [e.created, e.livemode])).toEqual([
      ['first', true],
      ['second', false],
    ]);
  });
});
