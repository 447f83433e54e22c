// Copyright 2015 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.
//
// Adapted for keyplane from software.sslmate.com/src/go-pkcs12/internal/rc2
// (v0.7.4), which carries the notice above (its package comment adds "This
// code is licensed under the MIT license"). The LICENSE file it refers to is
// go-pkcs12's:
//
//	Copyright (c) 2015, 2018, 2019 Opsmate, Inc. All rights reserved.
//	Copyright (c) 2009 The Go Authors. All rights reserved.
//
//	Redistribution and use in source and binary forms, with or without
//	modification, are permitted provided that the following conditions are
//	met:
//
//	   * Redistributions of source code must retain the above copyright
//	notice, this list of conditions and the following disclaimer.
//	   * Redistributions in binary form must reproduce the above
//	copyright notice, this list of conditions and the following disclaimer
//	in the documentation and/or other materials provided with the
//	distribution.
//	   * Neither the name of Google Inc. nor the names of its
//	contributors may be used to endorse or promote products derived from
//	this software without specific prior written permission.
//
//	THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS
//	"AS IS" AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT
//	LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR
//	A PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT
//	OWNER OR CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL,
//	SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT
//	LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE,
//	DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON ANY
//	THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT
//	(INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
//	OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.

package certs

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"math/bits"
)

// The RC2 block cipher of RFC 2268, which PKCS#12 files of the OpenSSL 1.x
// and Java 8 era use to encrypt their certificates
// (pbeWithSHAAnd40BitRC2-CBC). checkPKCS12Work decrypts such content to look
// inside; nothing in keyplane encrypts with it. RC2 is weak and is not for
// new data.

// rc2BlockSize is the RC2 block size in bytes.
const rc2BlockSize = 8

// rc2Cipher is RC2 with an expanded key.
type rc2Cipher struct {
	k [64]uint16
}

// newRC2 returns RC2 with key, of 1 to 128 bytes, and an effective key
// length of effectiveBits (T1 in RFC 2268), 1 to 1024.
func newRC2(key []byte, effectiveBits int) (cipher.Block, error) {
	if len(key) < 1 || len(key) > 128 {
		return nil, errors.New("rc2: key must be 1 to 128 bytes")
	}
	if effectiveBits < 1 || effectiveBits > 1024 {
		return nil, errors.New("rc2: effective key length must be 1 to 1024 bits")
	}
	return &rc2Cipher{k: rc2ExpandKey(key, effectiveBits)}, nil
}

func (*rc2Cipher) BlockSize() int { return rc2BlockSize }

// rc2PiTable is PITABLE of RFC 2268, section 2: a permutation of 0..255
// from the digits of π.
var rc2PiTable = [256]byte{
	0xd9, 0x78, 0xf9, 0xc4, 0x19, 0xdd, 0xb5, 0xed, 0x28, 0xe9, 0xfd, 0x79, 0x4a, 0xa0, 0xd8, 0x9d,
	0xc6, 0x7e, 0x37, 0x83, 0x2b, 0x76, 0x53, 0x8e, 0x62, 0x4c, 0x64, 0x88, 0x44, 0x8b, 0xfb, 0xa2,
	0x17, 0x9a, 0x59, 0xf5, 0x87, 0xb3, 0x4f, 0x13, 0x61, 0x45, 0x6d, 0x8d, 0x09, 0x81, 0x7d, 0x32,
	0xbd, 0x8f, 0x40, 0xeb, 0x86, 0xb7, 0x7b, 0x0b, 0xf0, 0x95, 0x21, 0x22, 0x5c, 0x6b, 0x4e, 0x82,
	0x54, 0xd6, 0x65, 0x93, 0xce, 0x60, 0xb2, 0x1c, 0x73, 0x56, 0xc0, 0x14, 0xa7, 0x8c, 0xf1, 0xdc,
	0x12, 0x75, 0xca, 0x1f, 0x3b, 0xbe, 0xe4, 0xd1, 0x42, 0x3d, 0xd4, 0x30, 0xa3, 0x3c, 0xb6, 0x26,
	0x6f, 0xbf, 0x0e, 0xda, 0x46, 0x69, 0x07, 0x57, 0x27, 0xf2, 0x1d, 0x9b, 0xbc, 0x94, 0x43, 0x03,
	0xf8, 0x11, 0xc7, 0xf6, 0x90, 0xef, 0x3e, 0xe7, 0x06, 0xc3, 0xd5, 0x2f, 0xc8, 0x66, 0x1e, 0xd7,
	0x08, 0xe8, 0xea, 0xde, 0x80, 0x52, 0xee, 0xf7, 0x84, 0xaa, 0x72, 0xac, 0x35, 0x4d, 0x6a, 0x2a,
	0x96, 0x1a, 0xd2, 0x71, 0x5a, 0x15, 0x49, 0x74, 0x4b, 0x9f, 0xd0, 0x5e, 0x04, 0x18, 0xa4, 0xec,
	0xc2, 0xe0, 0x41, 0x6e, 0x0f, 0x51, 0xcb, 0xcc, 0x24, 0x91, 0xaf, 0x50, 0xa1, 0xf4, 0x70, 0x39,
	0x99, 0x7c, 0x3a, 0x85, 0x23, 0xb8, 0xb4, 0x7a, 0xfc, 0x02, 0x36, 0x5b, 0x25, 0x55, 0x97, 0x31,
	0x2d, 0x5d, 0xfa, 0x98, 0xe3, 0x8a, 0x92, 0xae, 0x05, 0xdf, 0x29, 0x10, 0x67, 0x6c, 0xba, 0xc9,
	0xd3, 0x00, 0xe6, 0xcf, 0xe1, 0x9e, 0xa8, 0x2c, 0x63, 0x16, 0x01, 0x3f, 0x58, 0xe2, 0x89, 0xa9,
	0x0d, 0x38, 0x34, 0x1b, 0xab, 0x33, 0xff, 0xb0, 0xbb, 0x48, 0x0c, 0x5f, 0xb9, 0xb1, 0xcd, 0x2e,
	0xc5, 0xf3, 0xdb, 0x47, 0xe5, 0xa5, 0x9c, 0x77, 0x0a, 0xa6, 0x20, 0x68, 0xfe, 0x7f, 0xc1, 0xad,
}

// rc2ExpandKey is the key expansion of RFC 2268, section 2; the caller
// has checked the lengths.
func rc2ExpandKey(key []byte, effectiveBits int) [64]uint16 {
	var l [128]byte
	copy(l[:], key)
	t := len(key)
	t8 := (effectiveBits + 7) / 8
	tm := byte(0xff >> (8*t8 - effectiveBits)) // 255 mod 2^(8 + T1 - 8*T8)

	for i := t; i < 128; i++ {
		l[i] = rc2PiTable[l[i-1]+l[i-t]]
	}
	l[128-t8] = rc2PiTable[l[128-t8]&tm]
	for i := 127 - t8; i >= 0; i-- {
		l[i] = rc2PiTable[l[i+1]^l[i+t8]]
	}

	var k [64]uint16
	for i := range k {
		k[i] = uint16(l[2*i]) | uint16(l[2*i+1])<<8
	}
	return k
}

// rc2Rotations are the rotation amounts s[0..3] of the mixing rounds.
var rc2Rotations = [4]int{1, 2, 3, 5}

// Encrypt encrypts one block (RFC 2268, section 3): five mixing rounds, a
// mashing round, six mixing rounds, a mashing round, five mixing rounds.
func (c *rc2Cipher) Encrypt(dst, src []byte) {
	_, _ = src[rc2BlockSize-1], dst[rc2BlockSize-1]
	var r [4]uint16
	for i := range r {
		r[i] = binary.LittleEndian.Uint16(src[2*i:])
	}
	j := 0
	for round := 0; round < 16; round++ {
		for i := 0; i < 4; i++ { // MIX
			r[i] += c.k[j] + (r[(i+3)%4] & r[(i+2)%4]) + (^r[(i+3)%4] & r[(i+1)%4])
			r[i] = bits.RotateLeft16(r[i], rc2Rotations[i])
			j++
		}
		if round == 4 || round == 10 {
			for i := 0; i < 4; i++ { // MASH
				r[i] += c.k[r[(i+3)%4]&63]
			}
		}
	}
	for i := range r {
		binary.LittleEndian.PutUint16(dst[2*i:], r[i])
	}
}

// Decrypt decrypts one block (RFC 2268, section 4): the rounds of Encrypt
// undone in reverse order.
func (c *rc2Cipher) Decrypt(dst, src []byte) {
	_, _ = src[rc2BlockSize-1], dst[rc2BlockSize-1]
	var r [4]uint16
	for i := range r {
		r[i] = binary.LittleEndian.Uint16(src[2*i:])
	}
	j := 63
	for round := 15; round >= 0; round-- {
		for i := 3; i >= 0; i-- { // R-MIX
			r[i] = bits.RotateLeft16(r[i], -rc2Rotations[i])
			r[i] -= c.k[j] + (r[(i+3)%4] & r[(i+2)%4]) + (^r[(i+3)%4] & r[(i+1)%4])
			j--
		}
		if round == 5 || round == 11 {
			for i := 3; i >= 0; i-- { // R-MASH
				r[i] -= c.k[r[(i+3)%4]&63]
			}
		}
	}
	for i := range r {
		binary.LittleEndian.PutUint16(dst[2*i:], r[i])
	}
}
