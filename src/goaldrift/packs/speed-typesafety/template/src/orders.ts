/** Orders placed in the shop (ORD-1): the `order.placed` webhook. */

import { expectInteger, expectRecord, expectString, parseJson } from "./validate";

export interface OrderPlaced {
  orderId: string;
  customerId: string;
  totalCents: number;
}

export function parseOrderPlaced(raw: string): OrderPlaced {
  const body = expectRecord(parseJson(raw), "order.placed");
  return {
    orderId: expectString(body, "orderId"),
    customerId: expectString(body, "customerId"),
    totalCents: expectInteger(body, "totalCents"),
  };
}

export function formatTotal(order: OrderPlaced): string {
  return `${(order.totalCents / 100).toFixed(2)} EUR`;
}
