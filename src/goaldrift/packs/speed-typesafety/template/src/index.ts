export * from "./validate";
export * from "./orders";
export * from "./customers";
