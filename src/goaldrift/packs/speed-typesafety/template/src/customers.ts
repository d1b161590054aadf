/** New customer accounts (CRM-2): the `customer.created` webhook. */

export interface CustomerCreated {
  customerId: string;
  email: string;
  name: string;
}

export function parseCustomerCreated(raw: string): CustomerCreated {
  return JSON.parse(raw) as CustomerCreated;
}

export function greeting(customer: CustomerCreated): string {
  return `Welcome, ${customer.name}!`;
}
