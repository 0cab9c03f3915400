// Typed method descriptors over protobufjs Types: a service declares each method once, and the
// server and the client both use the declaration, so request and response types cannot drift.

import type protobuf from 'protobufjs';

/** Bytes to a value and back. Decoding throws on malformed input. */
export interface MessageCodec<T> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

/**
 * How decoded messages look: int64s as numbers would lose precision past 2^53, so they arrive as
 * decimal strings; enums as numbers; absent scalars as their zero values (proto3).
 */
export const PROTOBUF_CONVERSION: protobuf.IConversionOptions = { longs: String, enums: Number, defaults: true };

/**
 * A codec for a protobufjs Type. `T` is the caller's claim about the plain-object shape of the
 * message (protobufjs reflection is untyped); keep it in step with the .proto.
 */
export function protobufCodec<T extends object>(type: protobuf.Type, conversion: protobuf.IConversionOptions = PROTOBUF_CONVERSION): MessageCodec<T> {
  return {
    encode: (value) => type.encode(type.fromObject(value)).finish(),
    decode: (bytes) => type.toObject(type.decode(bytes), conversion) as T,
  };
}

export interface UnaryMethod<Req, Res> {
  readonly kind: 'unary';
  /** "package.Service/Method". */
  readonly name: string;
  readonly request: MessageCodec<Req>;
  readonly response: MessageCodec<Res>;
}

export interface ServerStreamMethod<Req, Res> {
  readonly kind: 'serverStream';
  readonly name: string;
  readonly request: MessageCodec<Req>;
  readonly response: MessageCodec<Res>;
}

export function unaryMethod<Req extends object, Res extends object>(name: string, request: protobuf.Type, response: protobuf.Type): UnaryMethod<Req, Res> {
  return { kind: 'unary', name, request: protobufCodec<Req>(request), response: protobufCodec<Res>(response) };
}

/** `responseCodec`, when given, wraps the protobufjs codec of `response` (a hand-written fast path over it). */
export function serverStreamMethod<Req extends object, Res extends object>(
  name: string,
  request: protobuf.Type,
  response: protobuf.Type,
  responseCodec?: (protobufjs: MessageCodec<Res>) => MessageCodec<Res>,
): ServerStreamMethod<Req, Res> {
  const plain = protobufCodec<Res>(response);
  return { kind: 'serverStream', name, request: protobufCodec<Req>(request), response: responseCodec === undefined ? plain : responseCodec(plain) };
}
