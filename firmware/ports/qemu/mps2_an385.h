/*
 * mps2_an385.h - the few registers of QEMU's mps2-an385 machine (ARM's MPS2
 * FPGA image AN385: a Cortex-M3 with CMSDK peripherals) that the QEMU port
 * uses. Written out by hand instead of pulling in CMSIS, so the port builds
 * with nothing but arm-none-eabi-gcc and newlib.
 *
 * CMSDK APB UART (UART0 0x40004000, UART1 0x40005000, UART2 0x40006000)
 *   DATA 0x00, STATE 0x04, CTRL 0x08, INTSTATUS/INTCLEAR 0x0C, BAUDDIV 0x10.
 *   QEMU holds ONE received byte (STATE.RXFULL) and stops taking bytes from
 *   its character backend until DATA is read: no byte is ever lost, the
 *   sender is simply held back. It ignores TX and RX while BAUDDIV < 16.
 * CMSDK APB timers (TIMER0 0x40000000, TIMER1 0x40001000): 32-bit
 *   down-counters on the 25 MHz peripheral clock, reloaded from RELOAD when
 *   they reach 0.
 * Interrupt numbers on this image: UART0 RX 0, UART0 TX 1, UART1 RX 2,
 *   UART1 TX 3, UART2 RX 4, UART2 TX 5, TIMER0 8, TIMER1 9.
 */
#ifndef PHYFF_MPS2_AN385_H
#define PHYFF_MPS2_AN385_H

#include <stdint.h>

#define MPS2_SYSCLK_HZ 25000000u

struct cmsdk_uart {
    volatile uint32_t data;
    volatile uint32_t state;
    volatile uint32_t ctrl;
    volatile uint32_t intstatus; /* read: status; write 1s: clear */
    volatile uint32_t bauddiv;
};

#define CMSDK_UART_STATE_TXFULL 0x1u
#define CMSDK_UART_STATE_RXFULL 0x2u
#define CMSDK_UART_CTRL_TX_EN 0x1u
#define CMSDK_UART_CTRL_RX_EN 0x2u
#define CMSDK_UART_CTRL_RX_INTEN 0x8u
#define CMSDK_UART_INT_RX 0x2u

#define UART0 ((struct cmsdk_uart *)0x40004000u)
#define UART1 ((struct cmsdk_uart *)0x40005000u)
#define UART2 ((struct cmsdk_uart *)0x40006000u)

struct cmsdk_timer {
    volatile uint32_t ctrl;
    volatile uint32_t value;
    volatile uint32_t reload;
    volatile uint32_t intstatus; /* write 1: clear */
};

#define CMSDK_TIMER_CTRL_EN 0x1u
#define CMSDK_TIMER_CTRL_IRQEN 0x8u

#define TIMER0 ((struct cmsdk_timer *)0x40000000u)
#define TIMER1 ((struct cmsdk_timer *)0x40001000u)

#define IRQ_UART0_RX 0u
#define IRQ_UART1_RX 2u
#define IRQ_TIMER0 8u
#define IRQ_TIMER1 9u

/* NVIC interrupt set-enable register for IRQs 0..31. */
#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100u)

static inline void irq_disable(void) { __asm volatile("cpsid i" ::: "memory"); }
static inline void irq_enable(void) { __asm volatile("cpsie i" ::: "memory"); }
static inline void wait_for_interrupt(void) { __asm volatile("wfi" ::: "memory"); }

/* The decimal digits of v into digits, least significant first, for the UART
 * diagnostics lines (no printf in the image); returns their count, 1..10. */
static inline unsigned u32_digits_reversed(uint32_t v, char digits[10]) {
    unsigned n = 0;
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    return n;
}

#endif /* PHYFF_MPS2_AN385_H */
