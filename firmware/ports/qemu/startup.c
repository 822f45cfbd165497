/*
 * startup.c - reset handler and vector table of the QEMU port (mps2-an385).
 *
 * The Cortex-M3 loads its stack pointer and first program counter from the
 * first two words of the vector table, so the table must be the first thing
 * in the image (the linker script keeps .isr_vector at address 0). The reset
 * handler copies initialised data from its load address and clears .bss:
 * QEMU's -kernel loader would do both for an ELF, but a binary image (or a
 * real board's flash) needs it, and the port should start the same way
 * whatever loads it.
 */
#include <stdint.h>

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end;
extern uint32_t __stack_top;

int main(void);
void qemu_uart0_rx_handler(void);
void qemu_uart1_rx_handler(void);
void qemu_timer0_handler(void);
void qemu_timer1_handler(void);

void reset_handler(void);
void default_handler(void);

void reset_handler(void) {
    uint32_t *src = &__data_load;
    for (uint32_t *dst = &__data_start; dst < &__data_end;) *dst++ = *src++;
    for (uint32_t *dst = &__bss_start; dst < &__bss_end;) *dst++ = 0;
    (void)main();
    for (;;) {
        __asm volatile("wfi");
    }
}

/* Faults and unexpected interrupts park the core: a board that stops
 * answering is easier to diagnose than one that answers wrongly. */
void default_handler(void) {
    for (;;) {
        __asm volatile("wfi");
    }
}

typedef void (*vector_fn)(void);

/* 16 system exceptions + 32 external interrupts (QEMU's mps2 NVIC). */
__attribute__((section(".isr_vector"), used)) const vector_fn qemu_vectors[48] = {
    (vector_fn)(uintptr_t)&__stack_top,
    reset_handler,
    default_handler, /* NMI */
    default_handler, /* HardFault */
    default_handler, /* MemManage */
    default_handler, /* BusFault */
    default_handler, /* UsageFault */
    0, 0, 0, 0,
    default_handler, /* SVCall */
    default_handler, /* DebugMonitor */
    0,
    default_handler, /* PendSV */
    default_handler, /* SysTick */
    /* external interrupts start at index 16 */
    qemu_uart0_rx_handler, /* 0: UART0 RX */
    default_handler,       /* 1: UART0 TX */
    qemu_uart1_rx_handler, /* 2: UART1 RX */
    default_handler,       /* 3: UART1 TX */
    default_handler,       /* 4: UART2 RX */
    default_handler,       /* 5: UART2 TX */
    default_handler,       /* 6: GPIO0 */
    default_handler,       /* 7: GPIO1 */
    qemu_timer0_handler,   /* 8: TIMER0 */
    qemu_timer1_handler,   /* 9: TIMER1 */
    default_handler, default_handler, default_handler, default_handler,
    default_handler, default_handler, default_handler, default_handler, default_handler,
    default_handler, default_handler, default_handler, default_handler, default_handler,
    default_handler, default_handler, default_handler, default_handler, default_handler,
    default_handler, default_handler, default_handler,
};
